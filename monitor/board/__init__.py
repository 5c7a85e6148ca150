"""Monthly board packs: a trust's integrated performance report in the Making Data Count
style, as HTML (print styles for A4) and PDF, produced monthly and offered to subscribers."""
