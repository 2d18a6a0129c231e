# blkrew plot 'accuracy-vs-compression', generated from the run's records (deterministic).
# Data: accuracy-vs-compression.csv (first row: column names). Draw it here with: gnuplot accuracy-vs-compression.gp
if (!exists("outfile")) outfile = 'accuracy-vs-compression.svg'
set encoding utf8
set terminal svg size 800,480 dynamic noenhanced font 'sans,11' background rgb 'white'
set output outfile
set datafile separator ','
set datafile missing ''
set title 'Accuracy vs compression per method'
set grid
set key outside right top
set xlabel 'compression rate (×, log scale)'
set ylabel 'test accuracy'
set logscale x 2
set xrange [1.42857:22.4]
set offsets 0, 0, graph 0.05, graph 0.05
plot 'accuracy-vs-compression.csv' skip 1 every ::0::3 using 5:7 with linespoints lw 2 pt 7 lc 1 title 'blk-rew', \
     '' skip 1 every ::0::3 using 5:7:8 with yerrorbars pt -1 lc 1 notitle, \
     'accuracy-vs-compression.csv' skip 1 every ::4::7 using 5:7 with linespoints lw 2 pt 7 lc 2 title 'group-lasso', \
     '' skip 1 every ::4::7 using 5:7:8 with yerrorbars pt -1 lc 2 notitle, \
     'accuracy-vs-compression.csv' skip 1 every ::8::11 using 5:7 with linespoints lw 2 pt 7 lc 3 title 'admm', \
     '' skip 1 every ::8::11 using 5:7:8 with yerrorbars pt -1 lc 3 notitle, \
     'accuracy-vs-compression.csv' skip 1 every ::12::15 using 5:7 with linespoints lw 2 pt 7 lc 4 title 'unstructured', \
     '' skip 1 every ::12::15 using 5:7:8 with yerrorbars pt -1 lc 4 notitle, \
     'accuracy-vs-compression.csv' skip 1 every ::16::19 using 5:7 with linespoints lw 2 pt 7 lc 5 title 'whole-column', \
     '' skip 1 every ::16::19 using 5:7:8 with yerrorbars pt -1 lc 5 notitle, \
     0.879933 with lines dt 2 lw 2 lc rgb '#444444' title 'dense (mean)'
