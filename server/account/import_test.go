package account

import (
	"slices"
	"strings"
	"testing"
)

func known(p string) bool { return p == "parents" || p == "staff" }

func TestParseCSV(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantRows int
		wantBad  []int // line numbers
		reason   string
	}{
		{"comma", "identifier,email,first_name,last_name,population,password\nP001,a@b.fr,Anne,Durand,parents,secret-pass\n", 1, nil, ""},
		{"semicolon and BOM", "\ufeffidentifier;email;first_name;last_name;population;provisional_password\nS01;;Éric;Noël;staff;Prov-1234\nS02;x@y.fr;Léa;Roy;staff;abc\n", 2, nil, ""},
		{"shared e-mail", "identifier,email,first_name,last_name,population,password\nA1,p@f.fr,A,B,parents,x\nA2,p@f.fr,C,B,parents,y\n", 2, nil, ""},
		{"missing column", "identifier,email,first_name,population,password\nA,,B,parents,x\n", 0, []int{1}, "last_name"},
		{"no password column", "identifier,email,first_name,last_name,population\nA,,B,C,parents\n", 0, []int{1}, "password or provisional_password"},
		{"bad rows all reported", "identifier,email,first_name,last_name,population,password\nok1,,A,B,parents,x\n,,A,B,parents,x\nid 2,,A,B,parents,x\nid3,not-mail,A,B,parents,x\nid4,,A,B,aliens,x\nid5,,A,B,parents,\n", 1, []int{3, 4, 5, 6, 7}, ""},
		{"duplicate identifier", "identifier,email,first_name,last_name,population,password\nA1,,A,B,parents,x\na1,,A,B,parents,y\n", 1, []int{3}, "already on line 2"},
		{"both passwords", "identifier,email,first_name,last_name,population,password,provisional_password\nA1,,A,B,parents,x,y\n", 0, []int{2}, "not both"},
		{"header injection in e-mail", "identifier,email,first_name,last_name,population,password\nA1,\"a@b.fr\r\nBcc: x@y.fr\",A,B,parents,x\n", 0, []int{2}, "not a valid address"},
		{"not UTF-8", "identifier,email,first_name,last_name,population,password\nA1,,\xe9ric,B,parents,x\n", 0, []int{2}, "UTF-8"},
		{"empty", "identifier,email,first_name,last_name,population,password\n", 0, []int{2}, "no accounts"},
		{"broken quote", "identifier,email,first_name,last_name,population,password\nA1,\"x,A,B,parents,x\n", 0, []int{2}, "unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, bad, err := ParseCSV(strings.NewReader(tt.in), known)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tt.wantRows {
				t.Errorf("rows = %d, want %d (%+v)", len(rows), tt.wantRows, bad)
			}
			if len(bad) != len(tt.wantBad) {
				t.Fatalf("bad = %+v, want lines %v", bad, tt.wantBad)
			}
			for i, b := range bad {
				if b.Line != tt.wantBad[i] {
					t.Errorf("bad[%d] line %d, want %d (%s)", i, b.Line, tt.wantBad[i], b.Reason)
				}
			}
			if tt.reason != "" && !strings.Contains(bad[0].Reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", bad[0].Reason, tt.reason)
			}
		})
	}
}

func TestParseCSVKeepsPasswordSpaces(t *testing.T) {
	rows, bad, _ := ParseCSV(strings.NewReader("identifier,email,first_name,last_name,population,provisional_password\n A1 ,,A,B,parents, two words \n"), known)
	if len(bad) != 0 || len(rows) != 1 {
		t.Fatalf("rows %v bad %v", rows, bad)
	}
	if rows[0].Identifier != "A1" || rows[0].Password != " two words " || !rows[0].Provisional {
		t.Errorf("row = %+v", rows[0])
	}
}

// TestParseCSVGeneratePasswords: with letters to print, a row may leave
// both password columns empty; its account waits for a generated
// provisional password. Without, the same row is refused.
func TestParseCSVGeneratePasswords(t *testing.T) {
	const in = "identifier,email,first_name,last_name,population,password,provisional_password\nA1,,A,B,parents,,\nA2,,A,B,parents,,Prov-1\nA3,,A,B,parents,pw,\n"
	tests := []struct {
		name    string
		opts    ParseOptions
		rows    int
		bad     int
		genRows []string
	}{
		{"without letters", ParseOptions{}, 2, 1, nil},
		{"with letters", ParseOptions{GeneratePasswords: true}, 3, 0, []string{"A1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, bad, err := ParseCSVWith(strings.NewReader(in), known, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tt.rows || len(bad) != tt.bad {
				t.Fatalf("rows %d, bad %+v; want %d rows, %d bad", len(rows), bad, tt.rows, tt.bad)
			}
			var gen []string
			for _, r := range rows {
				if r.Generated {
					if !r.Provisional || r.Password != "" {
						t.Errorf("generated row %+v: want provisional without a password", r)
					}
					gen = append(gen, r.Identifier)
				}
			}
			if !slices.Equal(gen, tt.genRows) {
				t.Errorf("generated rows %v, want %v", gen, tt.genRows)
			}
		})
	}
	// Without any password column, every row waits for its letter.
	rows, bad, _ := ParseCSVWith(strings.NewReader("identifier,email,first_name,last_name,population\nA1,,A,B,parents\n"), known, ParseOptions{GeneratePasswords: true})
	if len(bad) != 0 || len(rows) != 1 || !rows[0].Generated {
		t.Errorf("no password column with letters: rows %+v, bad %+v", rows, bad)
	}
}
