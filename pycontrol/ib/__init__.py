"""Interactive Brokers: connect, contracts, orders, the session venue and a TWS-API test gateway."""
