package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/gofiber/fiber/v2"
)

// asset is one built file, fingerprinted and compressed once so that
// serving it costs a map lookup.
type asset struct {
	contentType string
	raw, gz     []byte
	// br is set once the brotli form exists: at once for what the build
	// compressed, a few tens of milliseconds after the first request that
	// accepts it for a file completed at start (see add).
	br   atomic.Pointer[[]byte]
	etag string
	// brotli, for a file completed at start, starts making its brotli form.
	brotli *sync.Once
}

// assetSet maps fingerprinted URLs (/assets/app.3f2a1b9c.css) to files, and
// plain names (app.css) to their fingerprinted URLs for the templates.
type assetSet struct {
	byURL  map[string]*asset
	byName map[string]string
	// compressing counts the brotli forms still being made.
	compressing sync.WaitGroup
}

func newAssetSet() *assetSet {
	return &assetSet{byURL: map[string]*asset{}, byName: map[string]string{}}
}

// addFS adds every file of fsys; suffix appends bytes to named files.
// A file the build compressed (name.br and name.gz beside it) is served as
// it is; the others are compressed here, once.
func (s *assetSet) addFS(fsys fs.FS, suffix map[string][]byte) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") ||
			strings.HasSuffix(p, ".br") || strings.HasSuffix(p, ".gz") {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("web: read asset %s: %w", p, err)
		}
		if suffix[p] == nil {
			br, errBr := fs.ReadFile(fsys, p+".br")
			gz, errGz := fs.ReadFile(fsys, p+".gz")
			if errBr == nil && errGz == nil {
				return s.addCompressed(p, b, gz, br)
			}
		}
		return s.add(p, append(b, suffix[p]...))
	})
}

// addCompressed adds a file with the compressed forms the build made.
func (s *assetSet) addCompressed(name string, raw, gz, br []byte) error {
	a, url := s.describe(name, raw)
	a.gz = gz
	a.br.Store(&br)
	s.byURL[url] = a
	s.byName[name] = url
	return nil
}

// describe fingerprints a file: its URL and its type.
func (s *assetSet) describe(name string, b []byte) (*asset, string) {
	sum := sha256.Sum256(b)
	fp := hex.EncodeToString(sum[:])[:10]
	ext := path.Ext(name)
	url := "/assets/" + strings.TrimSuffix(name, ext) + "." + fp + ext
	ct := mime.TypeByExtension(ext)
	if ct == "" {
		ct = "application/octet-stream"
	}
	return &asset{contentType: ct, raw: b, etag: `"` + fp + `"`}, url
}

// dataURI is a small file inlined into the page, one request less.
func (s *assetSet) dataURI(name string) string {
	a := s.byURL[s.byName[name]]
	if a == nil {
		return ""
	}
	return "data:" + a.contentType + ";base64," + base64.StdEncoding.EncodeToString(a.raw)
}

// add fingerprints and compresses one file. The fingerprint is part of the
// URL, so browsers may keep the file for a year: a new build has new URLs.
// Its brotli form is made in the background once a visitor asks for it
// (see wantBrotli): at its best level it takes 20–30 ms of CPU for the
// style sheet on these machines (ten times that under the race detector,
// for every application a test starts), while gzip's takes 2 ms; until it
// is ready, visitors get the gzip form.
func (s *assetSet) add(name string, b []byte) error {
	a, url := s.describe(name, b)
	if len(b) > 512 && !strings.HasPrefix(a.contentType, "image/png") {
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = zw.Write(b)
		if err := zw.Close(); err != nil {
			return fmt.Errorf("web: gzip %s: %w", name, err)
		}
		a.gz = gz.Bytes()
		a.brotli = &sync.Once{}
	}
	s.byURL[url] = a
	s.byName[name] = url
	return nil
}

// wantBrotli starts making a's brotli form in the background, once, for a
// file compressed here rather than by the build.
func (s *assetSet) wantBrotli(a *asset) {
	if a.brotli == nil {
		return
	}
	a.brotli.Do(func() {
		s.compressing.Go(func() {
			var br bytes.Buffer
			bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
			_, _ = bw.Write(a.raw)
			// Writing to memory cannot fail; without a brotli form the
			// file is served gzipped.
			if bw.Close() == nil {
				out := br.Bytes()
				a.br.Store(&out)
			}
		})
	})
}

// url returns the fingerprinted URL of a built file.
func (s *assetSet) url(name string) string { return s.byName[name] }

// serve answers GET /assets/*.
func (s *assetSet) serve(c *fiber.Ctx) error {
	a, ok := s.byURL[c.Path()]
	if !ok {
		return fiber.ErrNotFound
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Set(fiber.HeaderContentType, a.contentType)
	c.Set(fiber.HeaderETag, a.etag)
	c.Vary(fiber.HeaderAcceptEncoding)
	if c.Get(fiber.HeaderIfNoneMatch) == a.etag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	accept := c.Get(fiber.HeaderAcceptEncoding)
	br := a.br.Load()
	if br == nil && strings.Contains(accept, "br") {
		s.wantBrotli(a)
	}
	switch {
	case br != nil && strings.Contains(accept, "br"):
		c.Set(fiber.HeaderContentEncoding, "br")
		return c.Send(*br)
	case a.gz != nil && strings.Contains(accept, "gzip"):
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(a.gz)
	}
	return c.Send(a.raw)
}
