/**
 * The partial bundle ships no types of its own; its API is the full plotly.js API
 * (minus trace types we do not use), so we borrow @types/plotly.js.
 */
declare module "plotly.js-basic-dist-min" {
  import * as Plotly from "plotly.js";
  export = Plotly;
}
