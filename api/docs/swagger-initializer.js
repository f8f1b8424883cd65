// Starts Swagger UI on the daemon's own document. "Try it out" calls this same daemon
// (the document's server is "/"); the token given to "Authorize" is kept in the browser's
// local storage (persistAuthorization) so that it survives a reload.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: true,
    displayRequestDuration: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
  });
};
