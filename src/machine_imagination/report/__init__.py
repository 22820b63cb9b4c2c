"""The report stage: a text's results at a glance, and what made them.

  contact_sheet  every sentence's image with its index and sentence
  candidates_sheet  with search.candidates > 1: each sentence's candidates, their scores, the kept one
  summary        per sentence: prompt, seed, the search's and the judge's scores (summary.tsv)
  manifest       manifest.json: the config, seeds, models, versions, a SHA-256 of every output;
                 and its check (`machine-imagination verify`)
  jobs           the jobs of workflow/rules/report.smk
"""
