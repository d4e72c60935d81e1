"""The reports finance and operators ask for: savings of executed changes (estimated and measured), SLO
attainment, and the cost of inference per token. Computation is pure functions over domain records;
`readers` and `assemble` fetch those records from the store and the metrics store."""
