// Test-only page: renders one Dashboard Studio definition with Splunk's own dashboard framework
// (@splunk/dashboard-core and the Enterprise view-only preset), as Splunk Web does, for tests/test_dashboards.py.
// The definition (every data source replaced by ds.test data) and the initial tokens come from ?case=<url>.
import React from 'react';
import { createRoot } from 'react-dom/client';
import DashboardCore from '@splunk/dashboard-core';
import { DashboardContextProvider } from '@splunk/dashboard-context';
import EnterpriseViewOnlyPreset from '@splunk/dashboard-presets/EnterpriseViewOnlyPreset';
import { SplunkThemeProvider } from '@splunk/themes';
import { isValidUrl } from '@splunk/dashboard-utils';

window.sekoiaTest = { links: [], validationErrors: [], errors: [], ready: false };
window.addEventListener('error', (event) => window.sekoiaTest.errors.push(String(event.message)));

// A drilldown never leaves the page: the link it would open is recorded for the test instead, with the
// framework's own verdict on it (dashboard-state opens a link only when isValidUrl says yes).
const plugin = {
    onLinkToUrl: (event) => {
        window.sekoiaTest.links.push({ url: event.url, newTab: !!event.newTab, valid: isValidUrl(event.url) });
        event.preventDefault();
    },
};

async function main() {
    const url = new URLSearchParams(window.location.search).get('case');
    const testCase = await (await fetch(url)).json();
    document.body.dataset.theme = testCase.theme;
    createRoot(document.getElementById('root')).render(
        <SplunkThemeProvider family="enterprise" colorScheme={testCase.theme} density="comfortable">
            <DashboardContextProvider
                preset={EnterpriseViewOnlyPreset}
                initialDefinition={testCase.definition}
                initialTokenBinding={testCase.tokens || {}}
                dashboardPlugin={plugin}
            >
                <DashboardCore
                    width="100%"
                    height="auto"
                    onValidationError={(errors) => window.sekoiaTest.validationErrors.push(errors)}
                />
            </DashboardContextProvider>
        </SplunkThemeProvider>
    );
    window.sekoiaTest.ready = true;
}

main().catch((error) => window.sekoiaTest.errors.push(String(error && error.stack || error)));
