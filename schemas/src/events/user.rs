//! User presence: joined (creates the ucID), alive, left, details.

use serde::{Deserialize, Serialize};

use super::CommonFields;

/// `POST /v1/apps/{appID}/conferences/{confID}` (`UserJoinedMessageBody`), and the JS SDK's
/// `initialize()` + first `addNewFabric()` for a conference.
///
/// The join is where a user describes its endpoint once; the processor copies browser, OS and
/// app version onto every row of that user so dashboards can break quality down by them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserJoined {
    #[serde(flatten)]
    pub common: CommonFields,
    /// Required by the Swagger, defaulted here: a join without endpoint details is still a join.
    #[serde(default)]
    pub endpoint_info: EndpointInfo,
    /// `configParams.siteID`: the site or campus the call is made from.
    #[serde(rename = "siteID", default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
    /// `configParams.additionalIDs`: application IDs to slice the dashboard by.
    #[serde(
        rename = "additionalIDs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_ids: Option<AdditionalIds>,
    /// The object form of callstats.js `localUserID` (since v3.14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_info: Option<UserInfo>,
}

/// `endpointInfo` of a join. Every field is optional and open: native SDKs, browsers and bridges
/// fill different subsets (`type` is `native` on Android/iOS, `browser` from callstats.js).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointInfo {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Browser (or SDK) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Browser (or SDK) version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The application's version (`configParams.applicationVersion` in callstats.js),
    /// at most 30 characters.
    #[serde(
        alias = "applicationVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub app_version: Option<String>,
    /// Native SDKs: the build name of the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_name: Option<String>,
    /// Native SDKs: the build version of the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_version: Option<String>,
}

/// `configParams.additionalIDs` of callstats.js; each at most 256 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalIds {
    #[serde(
        rename = "customerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_id: Option<String>,
    #[serde(rename = "tenantID", default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meetings_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(rename = "pbxID", default, skip_serializing_if = "Option::is_none")]
    pub pbx_id: Option<String>,
    #[serde(
        rename = "pbxExtensionID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pbx_extension_id: Option<String>,
    #[serde(
        rename = "fqExtensionID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub fq_extension_id: Option<String>,
    #[serde(rename = "sessionID", default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// The object form of `localUserID` (callstats.js ≥ 3.14): a display name next to the alias
/// that is used as the user ID. Each at most 128 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_name: Option<String>,
    #[serde(rename = "loginID", default, skip_serializing_if = "Option::is_none")]
    pub login_id: Option<String>,
}

/// `.../events/user/alive`: sent every 10 s; 30 s of silence means the user left.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserAlive {
    #[serde(flatten)]
    pub common: CommonFields,
}

/// `.../events/user/left`: the user left; the conference closes when all have.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserLeft {
    #[serde(flatten)]
    pub common: CommonFields,
}

/// `.../events/userdetails` (official SDKs): a display name for the user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserDetails {
    #[serde(flatten)]
    pub common: CommonFields,
    pub user_name: String,
}
