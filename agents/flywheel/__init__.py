"""The usage-analytics flywheel of the agents domain: every interaction is stored as an event
(a time-partitioned table), judged by feedback, aggregated into daily metrics, plotted on the
analytics page and exported as training and evaluation data.

Public entry points: ``agents.flywheel.services`` (record events), ``agents.flywheel.feedback``
(give feedback), ``agents.flywheel.selectors`` (read), ``agents.flywheel.partitions`` and
``agents.flywheel.metrics`` (the beat jobs)."""
