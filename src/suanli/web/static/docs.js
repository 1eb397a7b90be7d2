// The API docs page: Swagger UI (served from the swagger-ui-bundle package) on the app's OpenAPI schema.
window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });
