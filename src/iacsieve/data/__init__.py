"""The data: labelled warnings (records: load, validate, prepare, the model input text), their identity
(the md5 DVC records), and your reviewers' labels (human, sheets, labels store)."""
