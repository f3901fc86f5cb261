"""Offline deepfake-speech corpus builder.

Real speech from every source in ``shared/notes/offline-data.md`` (one reader per source family in
``readers/``: festvox-ru, Fish Fillets, Flight of the Amazon Queen, Beneath a Steel Sky, Asterisk,
KTuberling, codec2 talkers) split speaker-disjointly, and fakes from offline synthesizers (espeak-ng,
Festival, Flite, Piper) and copy-synthesis vocoders (Griffin-Lim, LPC, WORLD, HiFi-GAN, codec2), all
through one post-processing chain. Run ``python -m recipes.offline_corpus.build --help``; see
README.md in this folder.
"""
