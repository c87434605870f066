module example.com/feishutask

go 1.19
