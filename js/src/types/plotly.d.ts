/**
 * plotly's partial bundles ship no types of their own; their API is the full plotly.js API
 * (minus trace types we do not use), so we borrow @types/plotly.js. The basic bundle draws
 * every chart: the SGD playground's contour is an image of its own (core/surface.ts).
 */
declare module "plotly.js-basic-dist-min" {
  import * as Plotly from "plotly.js";
  export = Plotly;
}
