/**
 * plotly's partial bundles ship no types of their own; their API is the full plotly.js API
 * (minus trace types we do not use), so we borrow @types/plotly.js. The basic bundle draws
 * the curve and the LR finder; the cartesian one adds the SGD playground's contour.
 */
declare module "plotly.js-basic-dist-min" {
  import * as Plotly from "plotly.js";
  export = Plotly;
}

declare module "plotly.js-cartesian-dist-min" {
  import * as Plotly from "plotly.js";
  export = Plotly;
}
