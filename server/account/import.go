package account

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// ImportRow is one valid line of an accounts file.
type ImportRow struct {
	Line        int
	Identifier  string
	Email       string
	FirstName   string
	LastName    string
	Population  string
	Password    string
	Provisional bool
	// Generated marks a row given no password at all, accepted only with
	// ParseOptions.GeneratePasswords: the account is created pending,
	// without a password, and gets a provisional one on a printed letter.
	Generated bool
	// Guardians are the normalised identifiers of the guardians' accounts
	// (the optional guardians column, separated by spaces).
	Guardians []string
}

// RowError is a line of the file that cannot be imported, and why.
type RowError struct {
	Line   int
	Reason string
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// ImportSummary counts what an import did.
type ImportSummary struct {
	Created, Updated, Unchanged int
	// KeptEmails counts addresses the file would have replaced but that
	// their owners set themselves (confirmed on the personal page, or
	// chosen at activation): the import leaves them alone.
	KeptEmails int
	// Letters are the ids of the pending accounts left without a password
	// (rows with Generated): the caller prints their letters.
	Letters []string
}

// ParseOptions changes what ParseCSV accepts.
type ParseOptions struct {
	// GeneratePasswords accepts rows without any password: their accounts
	// are created pending, and the caller gives each a provisional
	// password on a letter (accounts import --letters, the console).
	GeneratePasswords bool
}

// maxImportBytes bounds the file read into memory; 50,000 accounts take
// about 5 MB.
const maxImportBytes = 64 << 20

var requiredColumns = []string{"identifier", "email", "first_name", "last_name", "population"}

// ParseCSV reads an accounts file: UTF-8, comma or semicolon separated, with
// a header row. It validates every row and returns all the bad ones, so the
// school fixes its file in one pass; the caller imports nothing if any row is
// bad. knownPopulation says whether a population key is configured.
func ParseCSV(r io.Reader, knownPopulation func(string) bool) ([]ImportRow, []RowError, error) {
	return ParseCSVWith(r, knownPopulation, ParseOptions{})
}

// ParseCSVWith is ParseCSV with options.
func ParseCSVWith(r io.Reader, knownPopulation func(string) bool, opts ParseOptions) ([]ImportRow, []RowError, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxImportBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("account: read file: %w", err)
	}
	if len(data) > maxImportBytes {
		return nil, nil, fmt.Errorf("account: file larger than %d MB", maxImportBytes>>20)
	}
	// Spreadsheets saved as "CSV UTF-8" start with a byte-order mark.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if !utf8.Valid(data) {
		return nil, []RowError{{Line: firstInvalidLine(data), Reason: "not UTF-8 text (save the file as CSV UTF-8)"}}, nil
	}

	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = detectSeparator(data)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, []RowError{{Line: 1, Reason: "missing header row"}}, nil
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	var missing []string
	for _, c := range requiredColumns {
		if _, ok := col[c]; !ok {
			missing = append(missing, c)
		}
	}
	_, hasPw := col["password"]
	_, hasProv := col["provisional_password"]
	if !hasPw && !hasProv && !opts.GeneratePasswords {
		missing = append(missing, "password or provisional_password")
	}
	if len(missing) > 0 {
		return nil, []RowError{{Line: 1, Reason: "missing column(s): " + strings.Join(missing, ", ")}}, nil
	}

	var rows []ImportRow
	var bad []RowError
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var line int
		if err == nil {
			line, _ = cr.FieldPos(0)
		} else {
			// FieldPos is only valid after a successful Read.
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			bad = append(bad, RowError{Line: line, Reason: "unreadable CSV: " + err.Error()})
			if pe == nil || !errors.Is(pe.Err, csv.ErrFieldCount) {
				// A broken quote shifts every later line; stop here.
				break
			}
			continue
		}
		field := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row := ImportRow{
			Line:       line,
			Identifier: field("identifier"),
			Email:      field("email"),
			FirstName:  field("first_name"),
			LastName:   field("last_name"),
			Population: field("population"),
		}
		for _, g := range strings.Fields(field("guardians")) {
			if !slices.Contains(row.Guardians, NormaliseIdentifier(g)) {
				row.Guardians = append(row.Guardians, NormaliseIdentifier(g))
			}
		}
		// Passwords are not trimmed: a space may be part of one.
		pw, prov := rawField(rec, col, "password"), rawField(rec, col, "provisional_password")
		if reason := row.check(pw, prov, knownPopulation, opts); reason != "" {
			bad = append(bad, RowError{Line: line, Reason: reason})
			continue
		}
		if prev, dup := seen[NormaliseIdentifier(row.Identifier)]; dup {
			bad = append(bad, RowError{Line: line, Reason: fmt.Sprintf("identifier %q already on line %d", row.Identifier, prev)})
			continue
		}
		seen[NormaliseIdentifier(row.Identifier)] = line
		switch {
		case pw != "":
			row.Password = pw
		case prov != "":
			row.Password, row.Provisional = prov, true
		default:
			row.Provisional, row.Generated = true, true
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 && len(bad) == 0 {
		bad = append(bad, RowError{Line: 2, Reason: "no accounts after the header row"})
	}
	return rows, bad, nil
}

func rawField(rec []string, col map[string]int, name string) string {
	if i, ok := col[name]; ok && i < len(rec) {
		return rec[i]
	}
	return ""
}

// check returns why a row is bad, or "".
func (r ImportRow) check(pw, prov string, knownPopulation func(string) bool, opts ParseOptions) string {
	switch {
	case r.Identifier == "":
		return "identifier is empty"
	case !validIdentifier(r.Identifier):
		return fmt.Sprintf("identifier %q: use at most 64 letters, digits, and . _ - @", r.Identifier)
	case r.Email != "" && !validEmail(r.Email):
		return fmt.Sprintf("email %q is not a valid address", r.Email)
	case !validName(r.FirstName):
		return "first_name is empty, longer than 100 characters, or holds control or invisible formatting characters (such as U+202E)"
	case !validName(r.LastName):
		return "last_name is empty, longer than 100 characters, or holds control or invisible formatting characters (such as U+202E)"
	case r.Population == "":
		return "population is empty"
	case !knownPopulation(r.Population):
		return fmt.Sprintf("population %q is not configured", r.Population)
	case pw != "" && prov != "":
		return "give either password or provisional_password, not both"
	case pw == "" && prov == "" && !opts.GeneratePasswords:
		return "password and provisional_password are both empty (or import with --letters to print provisional passwords)"
	case utf8.RuneCountInString(pw+prov) > 1024:
		return "password longer than 1024 characters"
	case len(r.Guardians) > 10:
		return "more than 10 guardians"
	}
	for _, g := range r.Guardians {
		switch {
		case !validIdentifier(g):
			return fmt.Sprintf("guardian %q: not an identifier", g)
		case g == NormaliseIdentifier(r.Identifier):
			return "an account cannot be its own guardian"
		}
	}
	return ""
}

// validEmail accepts a bare address (no display name), at most 254 bytes,
// with no characters that could inject a mail header.
func validEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, "\r\n<>,; \t") {
		return false
	}
	// No control or invisible character (C0, C1 such as U+0085, format
	// characters): they have no place in an address and mail refuses them.
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".")
}

// ValidEmail reports whether s is an address Sésame can send mail to.
func ValidEmail(s string) bool { return validEmail(strings.TrimSpace(s)) }

func validName(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 100 {
		return false
	}
	for _, r := range s {
		// Format characters (Cf) include the bidirectional overrides
		// (U+202E) that would show « Durand » as something else on every
		// page and letter, and invisible ones that defeat search.
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

func detectSeparator(data []byte) rune {
	line, _, _ := bufio.NewReader(bytes.NewReader(data)).ReadLine()
	if bytes.Count(line, []byte(";")) > bytes.Count(line, []byte(",")) {
		return ';'
	}
	return ','
}

func firstInvalidLine(data []byte) int {
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size == 1 {
			return line
		}
		if r == '\n' {
			line++
		}
		data = data[size:]
	}
	return line
}

// Importer writes parsed rows into the store.
type Importer struct {
	store    Store
	hasher   *Hasher
	now      func() time.Time
	parallel int
	progress func(done, total int)
}

// WithProgress has f told, after each row, how many rows are done: a
// school's import of 50,000 accounts takes minutes, and the person at the
// terminal should see it move. f is called from one goroutine at a time.
func (im *Importer) WithProgress(f func(done, total int)) *Importer {
	im.progress = f
	return im
}

// NewImporter returns an Importer hashing with hasher on parallel workers.
func NewImporter(store Store, hasher *Hasher, parallel int, now func() time.Time) *Importer {
	if parallel < 1 {
		parallel = 1
	}
	return &Importer{store: store, hasher: hasher, now: now, parallel: parallel}
}

// outcome of one row.
type outcome int

const (
	created outcome = iota
	updated
	unchanged
)

// Import upserts rows by identifier, so that running it twice is safe.
// Hashing dominates the time (argon2id on every new or changed password, and
// a verification on every unchanged one), so rows run on parallel workers.
func (im *Importer) Import(ctx context.Context, rows []ImportRow) (ImportSummary, error) {
	var (
		mu      sync.Mutex
		sum     ImportSummary
		firstEr error
		done    int
		wg      sync.WaitGroup
		next    = make(chan ImportRow)
	)
	for range im.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for row := range next {
				o, kept, letter, err := im.importRow(ctx, row)
				mu.Lock()
				if kept {
					sum.KeptEmails++
				}
				if letter && err == nil {
					sum.Letters = append(sum.Letters, NormaliseIdentifier(row.Identifier))
				}
				switch {
				case err != nil && firstEr == nil:
					firstEr = fmt.Errorf("account: import line %d: %w", row.Line, err)
				case err == nil && o == created:
					sum.Created++
				case err == nil && o == updated:
					sum.Updated++
				case err == nil:
					sum.Unchanged++
				}
				done++
				if im.progress != nil {
					im.progress(done, len(rows))
				}
				mu.Unlock()
			}
		}()
	}
	for _, r := range rows {
		if ctx.Err() != nil {
			break
		}
		next <- r
	}
	close(next)
	wg.Wait()
	if firstEr == nil {
		firstEr = ctx.Err()
	}
	slices.Sort(sum.Letters)
	return sum, firstEr
}

// CheckGuardians returns the rows naming a guardian that is neither in the
// file nor already an account: the school fixes its file first, and
// nothing is imported.
func (im *Importer) CheckGuardians(ctx context.Context, rows []ImportRow) ([]RowError, error) {
	inFile := map[string]bool{}
	for _, r := range rows {
		inFile[NormaliseIdentifier(r.Identifier)] = true
	}
	var bad []RowError
	for _, r := range rows {
		var unknown []string
		for _, g := range r.Guardians {
			if inFile[g] {
				continue
			}
			if _, err := im.store.GetAccount(ctx, g); errors.Is(err, ErrNotFound) {
				unknown = append(unknown, g)
			} else if err != nil {
				return nil, err
			}
		}
		if len(unknown) > 0 {
			bad = append(bad, RowError{Line: r.Line, Reason: fmt.Sprintf("unknown guardian identifier(s): %s (neither in this file nor already an account)", strings.Join(unknown, ", "))})
		}
	}
	return bad, nil
}

// importRow writes one row; it reports whether an address set by its owner
// was kept, and whether the account waits for a printed letter.
func (im *Importer) importRow(ctx context.Context, row ImportRow) (outcome, bool, bool, error) {
	now := im.now().UTC()
	status := StatusActive
	if row.Provisional {
		status = StatusPending
	}
	old, err := im.store.GetAccount(ctx, NormaliseIdentifier(row.Identifier))
	if errors.Is(err, ErrNotFound) {
		// A generated row gets no hash here: no password works until its
		// letter's is written, and the letter is drawn by the caller.
		var hash string
		if !row.Generated {
			if hash, err = im.hasher.Hash(row.Password); err != nil {
				return 0, false, false, err
			}
		}
		a := Account{
			ID: NormaliseIdentifier(row.Identifier), Identifier: row.Identifier, Subject: NewSubject(),
			Email: row.Email, FirstName: row.FirstName, LastName: row.LastName,
			Population: row.Population, Status: status,
			PasswordHash: hash, PasswordSetBy: SetByImport,
			Guardians: row.Guardians,
			CreatedAt: now, UpdatedAt: now,
		}
		if row.Email != "" {
			a.EmailSetBy = SetByImport
		}
		return created, false, row.Generated, im.store.CreateAccount(ctx, a)
	}
	if err != nil {
		return 0, false, false, err
	}
	// An account an earlier run created for a letter that was never
	// printed (the run stopped in between) still waits for it.
	letter := row.Generated && old.Status == StatusPending && old.PasswordHash == ""

	// Only the fields that differ are written, and each only while the
	// school owns it: what a person set themselves stays theirs.
	var p Patch
	kept := false
	if row.Identifier != old.Identifier {
		p.Identifier = Set(row.Identifier)
	}
	if row.FirstName != old.FirstName {
		p.FirstName = Set(row.FirstName)
	}
	if row.LastName != old.LastName {
		p.LastName = Set(row.LastName)
	}
	if row.Population != old.Population {
		p.Population = Set(row.Population)
	}
	if !slices.Equal(row.Guardians, old.Guardians) {
		p.Guardians = Set(row.Guardians)
	}
	if row.Email != old.Email {
		if old.EmailSetBy == SetByUser {
			kept = true
		} else {
			p.Email, p.EmailSetBy = Set(row.Email), Set(SetByImport)
		}
	}
	// A generated row leaves the password alone: the account keeps the
	// one its letter gave it, or the one its owner chose.
	if old.PasswordSetBy == SetByImport && !row.Generated {
		ok, rehash, err := im.hasher.Verify(old.PasswordHash, row.Password)
		if err != nil && !errors.Is(err, ErrBadHash) {
			return 0, kept, false, err
		}
		if !ok || rehash || old.Status != status {
			hash, err := im.hasher.Hash(row.Password)
			if err != nil {
				return 0, kept, false, err
			}
			// Written only if the import still owns the password: an
			// activation that lands meanwhile is never undone.
			p.PasswordHash, p.Status, p.IfPasswordSetBy = Set(hash), Set(status), Set(SetByImport)
		}
	}
	if p == (Patch{}) {
		return unchanged, kept, letter, nil
	}
	err = im.store.PatchAccount(ctx, old.ID, p, now)
	if errors.Is(err, ErrConflict) {
		// The person chose their password meanwhile: keep it, and write
		// the rest.
		p.PasswordHash, p.Status, p.IfPasswordSetBy = nil, nil, nil
		if p == (Patch{}) {
			return unchanged, kept, letter, nil
		}
		err = im.store.PatchAccount(ctx, old.ID, p, now)
	}
	return updated, kept, letter, err
}
