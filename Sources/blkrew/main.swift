print("blkrew")
