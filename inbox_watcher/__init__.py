"""po-watcher: the daemon that ties purchase-order email to PO records."""

__version__ = "0.1.0"
