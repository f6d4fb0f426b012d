"""Live conversation streams (`/api/live`): the widget's and the dashboard's open SSE connections."""
