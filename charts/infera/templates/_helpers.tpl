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
http://{{ include "infera.extender.fullname" . }}.{{ .Release.Namespace }}.svc:9471
{{- end -}}
