package account

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// identifierRE restates validIdentifier's documented rule independently:
// ASCII letters, digits and . _ - @, 1 to 64 of them.
var identifierRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// FuzzParseCSV feeds arbitrary files to the accounts import. Whatever the
// file, ParseCSV must not panic, and what it returns as importable must be
// importable: the caller writes every returned row when no row is bad.
func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		"identifier,email,first_name,last_name,population,password\nP001,a@b.fr,Anne,Durand,parents,secret-pass\n",
		"\ufeffidentifier;email;first_name;last_name;population;provisional_password\nS01;;Éric;Noël;staff;Prov-1234\nS02;x@y.fr;Léa;Roy;staff;abc\n",
		"identifier,email,first_name,last_name,population,password\nA1,p@f.fr,A,B,parents,x\nA2,p@f.fr,C,B,parents,y\na1,,A,B,parents,z\n",
		"identifier,email,first_name,last_name,population,password\nA1,\"a@b.fr\r\nBcc: x@y.fr\",A,B,parents,x\n",
		"identifier,email,first_name,last_name,population,password\nA1,\"x,A,B,parents,x\n",
		"identifier,email,first_name,last_name,population,password\n\"A\n1\",,A,B,parents,x\nB2,,\"multi\nline\",B,parents,x\nC3,,A,B,parents,x\n",
		"identifier,email,first_name,last_name,population,password,provisional_password\nA1,,A,B,parents,x,y\nA2,,A,B,parents,,\nA3,,A,B\n",
		"IDENTIFIER , Email,FIRST_NAME,last_name,population,password\n  A1  , a@b.fr ,A,B,parents, pw \n",
		"identifier,email,first_name,last_name,population,password\nA\u00e91,,A,B,parents,x\nA\x001,,A,B,parents,x\nK\u212a,,A,B,parents,x\n",
		"identifier,email,first_name,last_name,population,password\r\nA1,,A,B,parents,x\r\n\r\nA2,,A,B,parents,x",
		"identifier,email,first_name,last_name,population,password\nA1,,A,B,parents,x\n\xff\n",
		"identifier,identifier,email,first_name,last_name,population,password\nA1,B1,,A,B,parents,x\n",
		"",
	} {
		f.Add([]byte(s))
	}
	known := func(p string) bool { return p == "parents" || p == "staff" }
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, bad, err := ParseCSV(strings.NewReader(string(data)), known)
		if err != nil {
			// Only an unreadable or oversized file is an error; a fuzz
			// input is neither.
			t.Fatalf("ParseCSV error: %v", err)
		}
		if len(rows) == 0 && len(bad) == 0 {
			t.Fatal("nothing importable and nothing reported: the school is told nothing")
		}
		badLines := map[int]bool{}
		prevBad := 0
		for _, b := range bad {
			if b.Line < 1 {
				t.Errorf("bad row with line %d: %+v", b.Line, b)
			}
			if b.Line < prevBad {
				t.Errorf("bad rows out of order: line %d after %d", b.Line, prevBad)
			}
			if b.Reason == "" {
				t.Errorf("bad row on line %d without a reason", b.Line)
			}
			prevBad = b.Line
			badLines[b.Line] = true
		}
		ids := map[string]bool{}
		prev := 1
		for _, r := range rows {
			if r.Line < 2 || r.Line <= prev {
				t.Errorf("row line %d after %d (want increasing, ≥ 2): %+v", r.Line, prev, r)
			}
			prev = r.Line
			if badLines[r.Line] {
				t.Errorf("line %d is both returned and reported bad", r.Line)
			}
			if !identifierRE.MatchString(r.Identifier) || !validIdentifier(r.Identifier) {
				t.Errorf("line %d: invalid identifier %q returned", r.Line, r.Identifier)
			}
			id := NormaliseIdentifier(r.Identifier)
			if ids[id] {
				t.Errorf("line %d: identifier %q returned twice", r.Line, r.Identifier)
			}
			ids[id] = true
			if r.Email != "" {
				if !ValidEmail(r.Email) || r.Email != strings.TrimSpace(r.Email) {
					t.Errorf("line %d: invalid e-mail %q returned", r.Line, r.Email)
				}
				checkEmailShape(t, r.Email)
			}
			for _, n := range []string{r.FirstName, r.LastName} {
				if !validName(n) || n != strings.TrimSpace(n) {
					t.Errorf("line %d: invalid name %q returned", r.Line, n)
				}
			}
			if !known(r.Population) {
				t.Errorf("line %d: unknown population %q returned", r.Line, r.Population)
			}
			if r.Password == "" || utf8.RuneCountInString(r.Password) > 1024 || !utf8.ValidString(r.Password) {
				t.Errorf("line %d: unusable password returned (%d runes)", r.Line, utf8.RuneCountInString(r.Password))
			}
		}
	})
}
