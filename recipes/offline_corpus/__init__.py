"""Offline deepfake-speech corpus builder.

Real speech from three speakers shipped in Debian packages (festvox-ru, fillets-ng-data-cs,
fillets-ng-data-nl) and fakes from offline synthesizers (espeak-ng, Festival, Flite, Piper) and
copy-synthesis vocoders (Griffin-Lim, WORLD), all through one post-processing chain. Run
``python -m recipes.offline_corpus.build --help``; see README.md in this folder.
"""
