// Validates Kubernetes manifests against the API's OpenAPI schemas (kubernetes-models: the
// schemas of the Kubernetes API and of the Prometheus Operator's CRDs, checked with ajv).
// usage: node check.mjs FILE...   Exit 1 with each error, naming file, kind and field.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import * as core from "kubernetes-models/v1";
import * as apps from "kubernetes-models/apps/v1";
import * as monitoring from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const models = {
  "v1": core,
  "apps/v1": apps,
  "monitoring.coreos.com/v1": monitoring,
};
let errors = 0, checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) { console.error(`${file}: YAML: ${doc.errors[0].message}`); errors++; continue; }
    const obj = doc.toJS();
    if (!obj) continue;
    const Model = models[obj.apiVersion]?.[obj.kind];
    if (!Model) { console.error(`${file}: no schema for ${obj.apiVersion} ${obj.kind}`); errors++; continue; }
    try {
      new Model(obj).validate();
      checked++;
      console.log(`ok ${file}: ${obj.kind} ${obj.metadata?.name}`);
    } catch (e) {
      console.error(`${file}: ${obj.kind} ${obj.metadata?.name}: ${e.message}`);
      errors++;
    }
  }
}
if (!checked && !errors) { console.error("nothing to check"); process.exit(2); }
process.exit(errors ? 1 : 0);
