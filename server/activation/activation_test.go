package activation

import "testing"

func TestLocalPart(t *testing.T) {
	tests := []struct{ pattern, first, last, want string }{
		{"prenom.nom", "Marie-Hélène", "Dupont", "marie-helene.dupont"},
		{"prenom.nom", "Éric", "Noël", "eric.noel"},
		{"prenom.nom", "Jean Pierre", "De La Fontaine", "jeanpierre.delafontaine"},
		{"prenom.nom", "Zoé", "L'Hôte", "zoe.lhote"},
		{"prenom.nom", "Cœur", "Bœuf", "coeur.boeuf"},
		{"p.nom", "Marie", "Dupont", "m.dupont"},
		{"nom.prenom", "Marie", "Dupont", "dupont.marie"},
		{"prenom-nom", "Marie", "Dupont", "marie-dupont"},
		{"prenom.nom", "  ", "Dupont", ""},
		{"prenom.nom", "李", "王", ""},
	}
	for _, tt := range tests {
		t.Run(tt.first+" "+tt.last, func(t *testing.T) {
			if got := LocalPart(tt.pattern, tt.first, tt.last); got != tt.want {
				t.Errorf("LocalPart(%q, %q, %q) = %q, want %q", tt.pattern, tt.first, tt.last, got, tt.want)
			}
		})
	}
}
