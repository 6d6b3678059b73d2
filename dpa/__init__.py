"""dpa: produce, sign and verify ipcall.me data processing agreements (verwerkersovereenkomsten)."""

__version__ = "0.1.0"
