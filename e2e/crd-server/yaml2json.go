// yaml2json reads YAML documents on stdin and writes each as one line of JSON, decoded the way
// kubectl and Helm decode manifests (k8s.io/apimachinery's YAML-or-JSON decoder over
// sigs.k8s.io/yaml, YAML 1.1 scalars: an unquoted `off` is the boolean false). The CRD tests use
// it to read committed YAML exactly as `kubectl apply -f` would before sending it to the server.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

func main() {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(os.Stdin), 4096)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for {
		var doc json.RawMessage
		if err := decoder.Decode(&doc); err != nil {
			if err == io.EOF {
				return
			}
			fmt.Fprintf(os.Stderr, "yaml2json: %v\n", err)
			out.Flush()
			os.Exit(1)
		}
		if len(doc) == 0 || string(doc) == "null" {
			continue
		}
		out.Write(doc)
		out.WriteString("\n")
	}
}
