package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/gofiber/fiber/v2"
)

// TestCompressedAssetsMatch: every compressed form served, made by the
// build (htmx.min.js.br, …) or at start (app.css with the theme), holds
// exactly the file: a stale .br beside a rebuilt file would serve old code.
func TestCompressedAssetsMatch(t *testing.T) {
	s := newAssetSet()
	if err := s.addFS(os.DirFS("../../frontend/dist"), map[string][]byte{"app.css": []byte("/* theme */")}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app.css", "app.js", "htmx.min.js"} {
		s.wantBrotli(s.byURL[s.url(name)])
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

// TestBrotliMadeWhenAsked: the themed style sheet, completed at start, has
// no brotli form until a visitor accepts one (an application started for
// nothing, as each test starts one, does not spend the CPU); that visitor
// gets gzip, and once the form is made, brotli.
func TestBrotliMadeWhenAsked(t *testing.T) {
	s := newAssetSet()
	if err := s.addFS(os.DirFS("../../frontend/dist"), map[string][]byte{"app.css": []byte("/* theme */")}); err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	app.Get("/assets/*", s.serve)
	get := func(accept string) string {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, s.url("app.css"), nil)
		req.Header.Set("Accept-Encoding", accept)
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Content-Encoding")
	}
	css := s.byURL[s.url("app.css")]
	if get("gzip") != "gzip" || css.br.Load() != nil {
		t.Fatal("a request without brotli made a brotli form, or was not served gzip")
	}
	s.compressing.Wait()
	if css.br.Load() != nil {
		t.Fatal("a brotli form was made before any visitor accepted it")
	}
	if got := get("gzip, br"); got != "gzip" {
		t.Errorf("the first visitor accepting brotli got %q; want gzip while brotli is made", got)
	}
	s.compressing.Wait()
	if got := get("gzip, br"); got != "br" {
		t.Errorf("once made, the brotli form is served as %q", got)
	}
	if got := get("gzip"); got != "gzip" {
		t.Errorf("a visitor without brotli got %q", got)
	}
}
