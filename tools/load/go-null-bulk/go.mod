module weir.invalid/go-null-bulk

go 1.21
