"""Server-rendered pages in French: the reimbursement simulator, the comparison of formulas."""
