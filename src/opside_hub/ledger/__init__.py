"""The case ledger: Amazon rows normalized into refund-engine cases, linked to MCDE documents."""
