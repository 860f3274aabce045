package web

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/desk"
)

// The admins' import in the console: upload a CSV file, see the command
// line's checks (every bad row with its line and reason; nothing imported
// while one is bad), confirm, see the counts, then print the letters of
// the import's pending accounts.
//
// Between the steps the file travels in the page, sealed (AES-GCM with a
// key of its own, bound to the admin and expiring): nothing is stored on
// the server, any instance can take the next step, and the passwords a
// school may have put in its file are never readable in the page.

// importTTL is how long a checked file may be confirmed, and its letters
// printed.
const importTTL = time.Hour

// maxImportUpload fits in the request limit with the sealed copy's room.
const maxImportUpload = 40 << 10

type deskImportForm struct {
	File    string `form:"file" validate:"max=60000"`
	Current string `form:"current" validate:"max=1024"`
}

func (s *Server) importProps(c *fiber.Ctx) views.DeskImportProps {
	agent := agentOf(c)
	t := s.t(c)
	return views.DeskImportProps{Base: s.page(c, t.T("desk.import_title")), Agent: agent.Identifier, Role: string(s.desk.Agent(agent)), Errors: map[string]string{}}
}

// admin lets only admins import; to everyone else the pages do not exist.
func (s *Server) admin(c *fiber.Ctx) bool { return s.desk.Agent(agentOf(c)) == desk.Admin }

// deskImportPage is the upload form.
func (s *Server) deskImportPage(c *fiber.Ctx) error {
	if !s.admin(c) {
		return fiber.ErrNotFound
	}
	return render(c, fiber.StatusOK, views.DeskImport(s.importProps(c)))
}

// deskImport checks an uploaded file: its bad rows, or a confirmation.
func (s *Server) deskImport(c *fiber.Ctx) error {
	if !s.admin(c) {
		return fiber.ErrNotFound
	}
	t := s.t(c)
	p := s.importProps(c)
	data, ok := uploaded(c)
	if !ok {
		p.Errors["file"] = t.T("desk.err_file")
		return render(c, fiber.StatusUnprocessableEntity, views.DeskImport(p))
	}
	if len(data) > maxImportUpload {
		p.Errors["file"] = t.T("desk.err_file_size", "KB", maxImportUpload>>10)
		return render(c, fiber.StatusUnprocessableEntity, views.DeskImport(p))
	}
	n, bad, err := s.desk.CheckImport(c.UserContext(), agentOf(c), data)
	if err != nil {
		return deskAnswer(err)
	}
	if len(bad) > 0 {
		p.Bad = badRows(t, bad)
		return render(c, fiber.StatusUnprocessableEntity, views.DeskImport(p))
	}
	p.Rows, p.Sealed = n, s.seal(agentOf(c).ID, data)
	return render(c, fiber.StatusOK, views.DeskImport(p))
}

// deskImportConfirm imports a checked file and shows the counts.
func (s *Server) deskImportConfirm(c *fiber.Ctx) error {
	if !s.admin(c) {
		return fiber.ErrNotFound
	}
	t := s.t(c)
	p := s.importProps(c)
	data, ok := s.unseal(agentOf(c).ID, c.FormValue("file"))
	if !ok {
		p.Errors["form"] = t.T("desk.import_expired")
		return render(c, fiber.StatusUnprocessableEntity, views.DeskImport(p))
	}
	sum, bad, err := s.desk.Import(c.UserContext(), agentOf(c), data, c.IP())
	if err != nil {
		return deskAnswer(err)
	}
	if len(bad) > 0 {
		p.Bad = badRows(t, bad)
		return render(c, fiber.StatusUnprocessableEntity, views.DeskImport(p))
	}
	p.Done = t.T("desk.import_done", "Created", sum.Created, "Updated", sum.Updated, "Unchanged", sum.Unchanged)
	p.Sealed = s.seal(agentOf(c).ID, data)
	return render(c, fiber.StatusOK, views.DeskImport(p))
}

// deskImportLetters prints the letters of the pending accounts of one
// import, after the admin's password.
func (s *Server) deskImportLetters(c *fiber.Ctx) error {
	if !s.admin(c) {
		return fiber.ErrNotFound
	}
	var f deskImportForm
	if err := c.BodyParser(&f); err != nil || s.validate.Struct(f) != nil {
		return fiber.ErrBadRequest
	}
	t := s.t(c)
	p := s.importProps(c)
	data, ok := s.unseal(agentOf(c).ID, f.File)
	if !ok {
		p.Errors["form"] = t.T("desk.import_expired")
		return render(c, fiber.StatusUnprocessableEntity, views.DeskImport(p))
	}
	ls, l, err := s.desk.IssueFor(c.UserContext(), agentOf(c), s.desk.ImportedIDs(data), f.Current, c.IP())
	missing, err := s.incomplete(ls, err)
	if err != nil {
		return deskAnswer(err)
	}
	p.Done, p.Sealed = t.T("desk.import_letters_again"), f.File
	if len(l) > 0 {
		p.Errors = words(t, "desk", l)
		return render(c, fiber.StatusUnprocessableEntity, views.DeskImport(p))
	}
	if len(ls) == 0 {
		p.Errors["form"] = t.T("desk.batch_none")
		return render(c, fiber.StatusUnprocessableEntity, views.DeskImport(p))
	}
	return s.sendLetters(c, "lettres-import.pdf", ls, missing)
}

// uploaded reads the file field of a multipart form.
func uploaded(c *fiber.Ctx) ([]byte, bool) {
	fh, err := c.FormFile("file")
	if err != nil || fh.Size == 0 {
		return nil, false
	}
	f, err := fh.Open()
	if err != nil {
		return nil, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxImportUpload+1))
	return data, err == nil
}

// badRows writes each bad row as « Ligne 3 : reason ».
func badRows(t interface {
	T(string, ...any) string
}, bad []account.RowError) []string {
	out := make([]string, 0, len(bad))
	for _, b := range bad {
		out = append(out, t.T("desk.import_line", "Line", strconv.Itoa(b.Line), "Reason", b.Reason))
	}
	return out
}

// seal compresses and encrypts a file for the admin id, until importTTL.
func (s *Server) seal(id string, data []byte) string {
	var plain bytes.Buffer
	var exp [8]byte
	binary.BigEndian.PutUint64(exp[:], uint64(s.now().Add(importTTL).Unix()))
	plain.Write(exp[:])
	zw := gzip.NewWriter(&plain)
	_, _ = zw.Write(data)
	_ = zw.Close()
	aead := s.importAEAD()
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain.Bytes(), []byte(id)))
}

// unseal opens what seal made for the same admin, before it expires.
func (s *Server) unseal(id, sealed string) ([]byte, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	aead := s.importAEAD()
	if err != nil || len(raw) < aead.NonceSize() {
		return nil, false
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(id))
	if err != nil || len(plain) < 8 || time.Unix(int64(binary.BigEndian.Uint64(plain[:8])), 0).Before(s.now()) {
		return nil, false
	}
	zr, err := gzip.NewReader(bytes.NewReader(plain[8:]))
	if err != nil {
		return nil, false
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxImportUpload+1))
	if err != nil || len(data) > maxImportUpload {
		return nil, false
	}
	return data, true
}

func (s *Server) importAEAD() cipher.AEAD {
	block, err := aes.NewCipher(s.importKey)
	if err != nil {
		// keys.Derive gives 32 bytes: AES-256 always accepts them.
		panic(errors.New("web: import key: " + err.Error()))
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(errors.New("web: import key: " + err.Error()))
	}
	return aead
}
