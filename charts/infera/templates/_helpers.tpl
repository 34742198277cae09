{{/* Names, labels and the image reference shared by every template. */}}

{{- define "infera.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "infera.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Component object names: <fullname>-<component>, within 63 characters. */}}
{{- define "infera.agent.fullname" -}}{{ include "infera.fullname" . | trunc 57 | trimSuffix "-" }}-agent{{- end -}}
{{- define "infera.extender.fullname" -}}{{ include "infera.fullname" . | trunc 54 | trimSuffix "-" }}-extender{{- end -}}
{{- define "infera.scheduler.fullname" -}}{{ include "infera.fullname" . | trunc 53 | trimSuffix "-" }}-scheduler{{- end -}}
{{- define "infera.webhook.fullname" -}}{{ include "infera.fullname" . | trunc 55 | trimSuffix "-" }}-webhook{{- end -}}
{{- define "infera.console.fullname" -}}{{ include "infera.fullname" . | trunc 55 | trimSuffix "-" }}-console{{- end -}}

{{/* The webhook's namespaceCheck (webhook/settings.py): "api" (list/watch Namespaces: RBAC, a token,
egress to the API server) unless overcommit.config.namespaceCheck says "off". */}}
{{- define "infera.webhook.namespaceCheck" -}}{{ .Values.overcommit.config.namespaceCheck | default "api" }}{{- end -}}

{{/* The console's price-book and peer-registry ConfigMaps: an existing one, the chart's own when
values give the content, or "" when there is none. */}}
{{- define "infera.console.pricesConfigMap" -}}
{{- with .Values.console.prices -}}{{ .existingConfigMap | default (ternary (printf "%s-prices" (include "infera.console.fullname" $)) "" (not (empty .book))) }}{{- end -}}
{{- end -}}
{{- define "infera.console.peersConfigMap" -}}
{{- with .Values.console.hub -}}{{ .existingConfigMap | default (ternary (printf "%s-peers" (include "infera.console.fullname" $)) "" (not (empty .peers))) }}{{- end -}}
{{- end -}}

{{- define "infera.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "infera.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: temper
{{- end -}}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "agent"). */}}
{{- define "infera.selectorLabels" -}}
app.kubernetes.io/name: {{ include "infera.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "infera.componentLabels" -}}
{{ include "infera.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "infera.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "infera.kubeSchedulerImage" -}}
{{- $ks := .Values.scheduler.kubeScheduler.image -}}
{{- $tag := $ks.tag -}}
{{- if not $tag -}}
{{- $tag = printf "v%s.%s.0" .Capabilities.KubeVersion.Major (regexReplaceAll "[^0-9]" .Capabilities.KubeVersion.Minor "") -}}
{{- end -}}
{{- printf "%s:%s" $ks.repository $tag -}}
{{- end -}}

{{/* The agent's ServiceAccount username, as the API server reports it in userInfo. */}}
{{- define "infera.agent.username" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "infera.agent.fullname" . }}
{{- end -}}

{{- define "infera.extender.url" -}}
{{ ternary "https" "http" .Values.scheduler.extender.tls.enabled }}://{{ include "infera.extender.fullname" . }}.{{ .Release.Namespace }}.svc:9471
{{- end -}}

{{/*
A CA and a serving pair for one Service, as base64 fields (crt, key, ca) of a YAML map:
call with (dict "ctx" $ "service" NAME "secret" SECRET-NAME "days" N [ "extra" LIST ]) and
`fromYaml` the result; "extra" adds DNS names to the Service's own (e.g. localhost). Generated with genCA/genSignedCert (no Job, no RBAC, works with `helm template`) for
the Service's DNS names, and reused from SECRET-NAME through `lookup` while that Secret exists
(`helm template` and --dry-run cannot look up, so they show fresh ones). The caller renders
the Secret and whatever must trust the CA in the same template, so both see one CA.
*/}}
{{- define "infera.servingPair" -}}
{{- $ns := .ctx.Release.Namespace -}}
{{- $existing := lookup "v1" "Secret" $ns .secret -}}
{{- if and $existing (index ($existing.data | default dict) "ca.crt") -}}
crt: {{ index $existing.data "tls.crt" }}
key: {{ index $existing.data "tls.key" }}
ca: {{ index $existing.data "ca.crt" }}
{{- else -}}
{{- $ca := genCA (printf "%s-ca" .service) (int .days) -}}
{{- $dns := concat (list .service (printf "%s.%s" .service $ns) (printf "%s.%s.svc" .service $ns) (printf "%s.%s.svc.cluster.local" .service $ns)) (.extra | default list) -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" .service $ns) nil $dns (int .days) $ca -}}
crt: {{ $cert.Cert | b64enc }}
key: {{ $cert.Key | b64enc }}
ca: {{ $ca.Cert | b64enc }}
{{- end -}}
{{- end -}}

{{/* The kubernetes.io/tls Secret of a servingPair: (dict "ctx" $ "name" NAME "component" C "pair" PAIR). */}}
{{- define "infera.tlsSecret" -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "infera.componentLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
type: kubernetes.io/tls
data:
  tls.crt: {{ .pair.crt }}
  tls.key: {{ .pair.key }}
  ca.crt: {{ .pair.ca }}
{{- end -}}

{{/*
Egress every API client of the chart needs: DNS and the API server (networkPolicy.dnsTo and
networkPolicy.apiServer.*; empty peer lists mean those ports to any destination). Rules of an
egress list, to be indented by the caller; infera.egressDns and infera.egressApiServer are the
two halves.
*/}}
{{- define "infera.egressApiServerAndDns" -}}
{{ include "infera.egressDns" . }}
{{ include "infera.egressApiServer" . }}
{{- end -}}

{{- define "infera.egressDns" -}}
- ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
  {{- with .Values.networkPolicy.dnsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{- define "infera.egressApiServer" -}}
{{- $np := .Values.networkPolicy -}}
- ports:
    {{- range $np.apiServer.ports }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
  {{- with $np.apiServer.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
The TCP ports the console dials other planes on (hub mode and outbound-only), as a JSON list:
console.hub.egressPorts, else the port of each inline peer's url and of console.hub.dial.url
(443 for https:// without one, 80 for http://; dial-in peers have no url), plus 443 for an
existing peer-registry ConfigMap whose URLs the chart cannot read; [] when it dials no one.
*/}}
{{- define "infera.console.hubPorts" -}}
{{- $hub := .Values.console.hub -}}
{{- $ports := list -}}
{{- if $hub.egressPorts -}}
{{- $ports = $hub.egressPorts -}}
{{- else -}}
{{- $urls := list -}}
{{- range $hub.peers -}}{{- if .url -}}{{- $urls = append $urls .url -}}{{- end -}}{{- end -}}
{{- if $hub.dial.url -}}{{- $urls = append $urls $hub.dial.url -}}{{- end -}}
{{- range $urls -}}
{{- $url := urlParse . -}}
{{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+$" $url.host) -}}
{{- $ports = append $ports (int ($port | default (ternary "80" "443" (eq $url.scheme "http")))) -}}
{{- end -}}
{{- if $hub.existingConfigMap -}}{{- $ports = append $ports 443 -}}{{- end -}}
{{- end -}}
{{- $ports | uniq | toJson -}}
{{- end -}}

{{/* An ingress rule for the metrics/probe port named PORT, from networkPolicy.metricsFrom (empty: any source). */}}
{{- define "infera.ingressMetrics" -}}
- ports:
    - {protocol: TCP, port: {{ .port }}}
  {{- with .ctx.Values.networkPolicy.metricsFrom }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
