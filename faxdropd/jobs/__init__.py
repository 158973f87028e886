"""A job's life: the journal, intake of claimed files, the pipeline to submission, admission policy, delivery
tracking, late originals, finishing and start-up recovery."""
