"""Ranking feedback: annotators rank K outputs of a generative model per prompt.

- :mod:`pairs`: rankings (1 = best, ties, unranked, "all bad") -> (chosen, rejected) index pairs;
- :mod:`reward`: a Bradley-Terry reward model trained on those pairs in prompt-grouped batches, its
  scores, metrics (pairwise accuracy, Kendall's tau) and Input x Gradient explanations
  (the pieces live in :mod:`loss`, :mod:`config`, :mod:`inputs`, :mod:`batching`, :mod:`scoring`,
  :mod:`metrics`, :mod:`attribution`);
- :mod:`generate`: K sampled candidates per prompt from any causal LM;
- :mod:`export`: pairs as a TRL preference dataset (prompt, chosen, rejected);
- :mod:`revision`: the Revision Transformer's retrieval index of textual corrections (RiT);
- :mod:`prompts`: prompt files and the bundled demo.

Submodules are imported where used (``from xil.ranking.reward import train_reward``), so importing
this package stays cheap.
"""
