package main

import (
	"embed"
	"io/fs"
	"net/http"
)

// pageFiles is the live page: plain HTML, JavaScript and CSS, no build step.
//
//go:embed page
var pageFiles embed.FS

// servePage serves the live page.
func servePage(w http.ResponseWriter, r *http.Request) {
	http.ServeFileFS(w, r, pageFiles, "page/index.html")
}

// staticFiles serves the page's script and style sheet under /static/.
func staticFiles() http.Handler {
	sub, err := fs.Sub(pageFiles, "page")
	if err != nil {
		panic(err) // "page" is embedded above
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}
