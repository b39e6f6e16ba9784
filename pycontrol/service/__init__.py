"""The ops service: a FastAPI app on 127.0.0.1 that shows and controls one running session
(REST, a server-sent-event stream, the dashboard, ``/metrics``) and scores feature rows with a
family's production model (``/predict``). See docs/operations.md."""
