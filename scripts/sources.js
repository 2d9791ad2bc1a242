// Prints the native source list (src-native/sources.txt) for binding.gyp.
'use strict';
const fs = require('fs');
const path = require('path');
const list = fs.readFileSync(path.join(__dirname, '..', 'src-native', 'sources.txt'), 'utf8');
process.stdout.write(list.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).join(' '));
