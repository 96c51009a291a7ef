"""Starting and supervising the self-hosted model servers of a pool (``tollgate pool serve``)."""
