// Command yaml-to-json reads a stream of YAML documents or JSON objects on stdin, exactly as kubectl reads
// `-f -` (k8s.io/apimachinery's YAMLOrJSONDecoder over sigs.k8s.io/yaml, YAML 1.1 rules), and prints each as
// one line of JSON. The tests use it to prove that what the action writes means to kubectl exactly what it
// means to the action.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

func main() {
	decoder := utilyaml.NewYAMLOrJSONDecoder(os.Stdin, 4096)
	for {
		var document json.RawMessage
		err := decoder.Decode(&document)
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if len(bytes.TrimSpace(document)) == 0 || string(document) == "null" {
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, document); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(compact.String())
	}
}
