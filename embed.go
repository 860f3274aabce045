package main

import (
	"embed"
	"io/fs"
)

// dist is the built front end (npm run build), committed so that `go run .`
// and `go install` work without Node.
//
//go:embed all:frontend/dist
var dist embed.FS

// distFS returns the built files rooted at frontend/dist.
func distFS() fs.FS {
	sub, err := fs.Sub(dist, "frontend/dist")
	if err != nil {
		// fs.Sub only fails on an invalid path, which is a constant here.
		panic(err)
	}
	return sub
}
