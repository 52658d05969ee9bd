"""Using a trained model outside its run: portable checkpoints (:mod:`.checkpoint`), top-k
recommendations in original ids (:mod:`.recommend`), the full-ranking test on any dataset whose
ids map onto the model's (:mod:`.evaluate`) and an HTTP server (:mod:`.server`, needs LitServe)."""
