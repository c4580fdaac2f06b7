// Validates an OpenAPI document against the OpenAPI 3 schema and its own rules (refs resolve,
// path parameters declared, operation ids unique): node validate.mjs docs/openapi.yaml
import SwaggerParser from "@apidevtools/swagger-parser";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs OPENAPI.yaml");
  process.exit(2);
}
try {
  const api = await SwaggerParser.validate(file);
  if (!String(api.openapi).startsWith("3.")) throw new Error(`openapi is ${api.openapi}, not 3.x`);
  console.log(`${file}: a valid OpenAPI ${api.openapi} document, ${Object.keys(api.paths).length} paths`);
} catch (e) {
  console.error(`${file}: not a valid OpenAPI 3 document: ${e.message}`);
  process.exit(1);
}
