/**
 * The state layer: a documented, language-neutral encoding (`ckpt-value/1`, spec in encode.ts) of
 * JavaScript values into one JSON document plus raw binary blobs, and its exact inverse, which never
 * runs code.
 */

export { decodeValue } from './decode.js';
export {
  type BlobView,
  DEFAULT_INLINE_LIMIT,
  type EncodedValue,
  type EncodeOptions,
  encodeValue,
} from './encode.js';
export { type TypedArrayName, VALUE_ENCODING } from './format.js';
