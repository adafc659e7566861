// Test-only: validates Dashboard Studio definitions with Splunk's own validator (@splunk/dashboard-validation's
// DashboardValidator) against the schema of the Enterprise preset (@splunk/dashboard-presets), the way
// @splunk/dashboard-core builds it (createSchemaBasedOnPresets). Called by tests/test_dashboards.py:
//     node validate.js <definition.json>...
// prints one JSON object {"<path>": [errors]} (an empty list: valid).
'use strict';

const fs = require('fs');
const { JSDOM } = require('jsdom');

// The presets import the visualizations, which expect a browser at load time: give them jsdom's window.
require.extensions['.css'] = () => {};
const dom = new JSDOM('<!doctype html><html><body></body></html>', { url: 'http://127.0.0.1/' });
for (const key of Object.getOwnPropertyNames(dom.window)) {
    if (!(key in globalThis)) {
        try {
            globalThis[key] = dom.window[key];
        } catch (e) {
            // a read-only global of Node's: keep Node's
        }
    }
}
globalThis.window = globalThis; // ace (the SPL editor) registers itself on the global object and reads window.ace
for (const key of ['Event', 'CustomEvent', 'EventTarget', 'MessageEvent', 'Node', 'Element', 'HTMLElement', 'navigator']) {
    Object.defineProperty(globalThis, key, { value: dom.window[key], configurable: true, writable: true });
}
for (const key of ['addEventListener', 'removeEventListener', 'dispatchEvent', 'getComputedStyle']) {
    globalThis[key] = dom.window[key].bind(dom.window);
}
globalThis.matchMedia = (media) => ({
    matches: false, media, addListener() {}, removeListener() {}, addEventListener() {}, removeEventListener() {},
});

const { DashboardValidator } = require('@splunk/dashboard-validation');
const { createSchemaBasedOnPresets } = require('@splunk/dashboard-definition');
const EnterprisePreset = require('@splunk/dashboard-presets/EnterprisePreset').default;

const schema = createSchemaBasedOnPresets(EnterprisePreset);
const validator = new DashboardValidator();
const schemaError = validator.setSchema(schema);
if (schemaError || !schema.$id) {
    process.stderr.write(`the Enterprise preset schema does not compile: ${schemaError}\n`);
    process.exit(2);
}

const results = {};
for (const path of process.argv.slice(2)) {
    const definition = JSON.parse(fs.readFileSync(path, 'utf8'));
    results[path] = validator.validate(definition) || [];
}
process.stdout.write(`${JSON.stringify(results)}\n`);
