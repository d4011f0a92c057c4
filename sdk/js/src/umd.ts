// Entry of dist/callscope.js. The UMD wrapper is the build's banner and footer
// (scripts/build.mjs): CommonJS when `module` exists; otherwise the global `callstats`, also
// defined as the AMD module "callstats" when require.js is on the page (a named define, so a plain
// <script> tag next to require.js does not trip "mismatched anonymous define").
import callstats from './index';

declare let __callscope: unknown;
__callscope = callstats;
