// The `_esm` anywidget loads for a large widget bundle: the bundle itself is gzipped
// into FW_PAYLOAD at build time (js/build.mjs) and unpacked here, once per page.
import { importGzipModule } from "./core/gzmodule";

declare const FW_PAYLOAD: string;
declare const FW_KEY: string;

const widget = await importGzipModule<{ default: unknown }>(FW_PAYLOAD, FW_KEY);
export default widget.default;
