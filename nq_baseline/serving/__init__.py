"""The answer service: micro-batching, request checks, the page's view of a document, the HTTP
app and its static page. Imports `prediction` and the stages below it."""
