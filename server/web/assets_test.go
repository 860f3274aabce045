package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"testing"

	"github.com/andybalholm/brotli"
)

// TestCompressedAssetsMatch: every compressed form served, made by the
// build (htmx.min.js.br, …) or at start (app.css with the theme), holds
// exactly the file: a stale .br beside a rebuilt file would serve old code.
func TestCompressedAssetsMatch(t *testing.T) {
	s := newAssetSet()
	if err := s.addFS(os.DirFS("../../frontend/dist"), map[string][]byte{"app.css": []byte("/* theme */")}); err != nil {
		t.Fatal(err)
	}
	s.compressing.Wait()
	for _, name := range []string{"app.css", "app.js", "htmx.min.js"} {
		a := s.byURL[s.url(name)]
		if a == nil || a.br.Load() == nil || a.gz == nil {
			t.Fatalf("%s: no compressed forms", name)
		}
		br, err := io.ReadAll(brotli.NewReader(bytes.NewReader(*a.br.Load())))
		if err != nil || !bytes.Equal(br, a.raw) {
			t.Errorf("%s: brotli form does not hold the file (%v)", name, err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(a.gz))
		if err != nil {
			t.Fatal(err)
		}
		gz, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(gz, a.raw) {
			t.Errorf("%s: gzip form does not hold the file (%v)", name, err)
		}
	}
	if s.url("htmx.min.js.br") != "" {
		t.Error("the compressed files are served as assets of their own")
	}
}
